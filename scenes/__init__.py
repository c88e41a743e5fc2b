"""Scenes, emergency plans and drill simulations: pure, seeded, and free of HTTP or storage."""

"""Emergency drills, pure and seeded: plans, the building and district sites they run on, the hazard and
evacuation simulators, and the frames a run produces. Nothing here reads a clock or touches I/O; `twin.drills`
runs, stores and pushes them."""

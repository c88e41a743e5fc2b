"""Emergency drills in the server: plans stored, runs in worker processes, frames stored and pushed, replay,
exports and comparisons. The simulation itself is `scenes.drills`."""

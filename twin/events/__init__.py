"""Events and command: the events' lifecycle, duplicates, deadlines, nearby resources by road, cameras, the
cockpit. Pure modules (`lifecycle`, `reports`, `coverage`, `cockpit`) and their adapters (`store`, `service`,
`routing`)."""

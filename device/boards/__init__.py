"""Board modules: the only places that build `machine` objects (DESIGN.md). Each defines
`Board(identity)` with the sensors, link, clock, watchdog and reset the node uses."""

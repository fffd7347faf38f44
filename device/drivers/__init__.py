"""Sensor drivers. Each takes its bus and pins in the constructor (as micropython-lib's
`lora` drivers do) and only calls the bus's methods, so a simulated bus can stand in."""

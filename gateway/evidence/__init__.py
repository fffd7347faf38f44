"""What the gateway can prove afterwards: the hash-chained journal, what is rebuilt from it,
its signed checkpoints off the host, its export, and the supervisor's report read from it."""

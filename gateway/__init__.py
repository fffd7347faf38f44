"""The Perimeter gateway: the asyncio daemon in the security office, and the `perimeter` CLI."""

"""Live event cameras: UDP / SPIF receivers and sender, aestream cameras, the bounded event queue."""

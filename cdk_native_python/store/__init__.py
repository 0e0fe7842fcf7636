"""Where built entries live: the local store and the remote tier (the integrator fills this in)."""

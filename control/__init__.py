"""How people and machines drive fvreplay: one folder per surface (sony9pin, osc, rest)."""

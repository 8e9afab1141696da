"""Surface-neutral use cases: the /monitor grammar, who may do what, and the flows every surface calls."""

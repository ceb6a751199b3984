"""`dialer demo`: the main job in one command, on a self-contained database and simulator."""

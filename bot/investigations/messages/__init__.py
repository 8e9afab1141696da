"""An investigation's words and pictures (pure), drawn in a child process (drawing.py)."""

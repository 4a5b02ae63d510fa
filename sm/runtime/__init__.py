"""Process control: sm's own tmux server."""

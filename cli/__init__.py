"""flirt-admin: the AI Flirt Studio admin CLI."""

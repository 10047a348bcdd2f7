"""The Qt faces of Beat Panel: the window and the tray, thin wrappers on the core."""

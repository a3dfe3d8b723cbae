"""Algorithm images, the submission lifecycle, scoring (metrics/) and leaderboards."""

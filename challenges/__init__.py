"""Organiser side: Challenge (the task spec), Phase, Case and its files, ground truth."""

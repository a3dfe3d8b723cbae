"""Physicians' review of leaderboard cases: queues, the case page, verdicts, flags, and the
society's ground-truth corrections (DESIGN §3 step 9). Nothing imports this app but config."""

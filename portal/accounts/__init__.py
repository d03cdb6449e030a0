"""Accounts: users, sign-in, sessions and lock-out, invitation and reset links, API keys."""

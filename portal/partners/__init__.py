"""Partner companies: applications, approval and status, profiles and payout details."""

"""Money: the commission ledger, payouts and their files, currencies, statements, taxes."""

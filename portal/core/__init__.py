"""What every domain stands on: settings, the database, the models, the acting user,
actions, validation, errors, pagination, audit."""

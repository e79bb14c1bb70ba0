// Support module.

"""The only code that talks SQL: models, migrations, one repository per table or concern, and Database.run."""

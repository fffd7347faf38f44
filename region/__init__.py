"""The regional picture: many prisons' incidents, bridged from each site's broker to a
clustered regional broker, stored with their geometry, counted and exported for the police."""

"""Who and what the gateway trusts: the site key, revoked node keys, the operators' accounts
and the broker's password file and ACL that follow them."""

package auth

// LoadAdminTokenFrom is LoadAdminToken with its source of randomness.
var LoadAdminTokenFrom = loadAdminToken

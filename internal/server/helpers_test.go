package server

import "github.com/jenkinds/jenkinds/internal/health"

func healthFall(n int) health.Config { return health.Config{Fall: n, Rise: 1} }

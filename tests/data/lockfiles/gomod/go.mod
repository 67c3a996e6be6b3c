module example.com/lockfile-fixture

go 1.21

require (
	example.com/local v0.0.0
	github.com/google/uuid v1.3.0
	github.com/pkg/errors v0.9.1
)

replace github.com/google/uuid v1.3.0 => github.com/google/uuid v1.6.0

replace example.com/local => ./local

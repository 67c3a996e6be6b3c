module example.com/old-fixture

go 1.16

require rsc.io/quote v1.5.2

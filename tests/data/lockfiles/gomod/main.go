package main

import (
	"fmt"

	"example.com/local"
	"github.com/google/uuid"
	"github.com/pkg/errors"
)

func main() {
	fmt.Println(uuid.NewString(), errors.New(local.Name))
}

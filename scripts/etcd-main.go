// Command etcd is the real etcd server: etcd's own main package (etcdmain), built as an
// ordinary dependency because etcd's root module has path replaces a dependent cannot use.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }

// minio-admin: a test tool that adds a MinIO user with the built-in read-only policy, so the S3
// integration suite can check access-denied handling. Usage:
//
//	minio-admin ENDPOINT ROOT_USER ROOT_PASSWORD NEW_USER NEW_PASSWORD
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/minio/madmin-go/v3"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: minio-admin ENDPOINT ROOT_USER ROOT_PASSWORD NEW_USER NEW_PASSWORD")
		os.Exit(2)
	}
	endpoint := strings.TrimPrefix(os.Args[1], "http://")
	adm, err := madmin.New(endpoint, os.Args[2], os.Args[3], false)
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	if err := adm.AddUser(ctx, os.Args[4], os.Args[5]); err != nil {
		fail(err)
	}
	req := madmin.PolicyAssociationReq{Policies: []string{"readonly"}, User: os.Args[4]}
	if _, err := adm.AttachPolicy(ctx, req); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "minio-admin:", err)
	os.Exit(1)
}

// minio-admin: a test tool that adds a MinIO user who may list and read every bucket but write
// nothing, so the S3 integration suite can check access-denied handling. Usage:
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
	// MinIO's built-in "readonly" policy cannot list buckets; a reader of checkpoints must.
	policy := []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
		`"Action":["s3:GetObject","s3:ListBucket","s3:GetBucketLocation","s3:ListBucketMultipartUploads"],` +
		`"Resource":["arn:aws:s3:::*"]}]}`)
	if err := adm.AddCannedPolicy(ctx, "expo-read", policy); err != nil {
		fail(err)
	}
	req := madmin.PolicyAssociationReq{Policies: []string{"expo-read"}, User: os.Args[4]}
	if _, err := adm.AttachPolicy(ctx, req); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "minio-admin:", err)
	os.Exit(1)
}

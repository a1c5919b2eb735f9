// S3 failures as the SDK reports them, mapped to one line naming the object: what a user must fix is a usage
// error (exit 2 before anything is written), a replaced input is an ObjectChangedError (no retry helps), the
// rest keeps the SDK's name and status.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ObjectChangedError, UsageError } from "../../../core/errors.js";
import { describeS3Error, isNotFound } from "../../../storage/s3Errors.js";

const sdk = (name: string, status?: number, message = `${name} message`) => ({
  name,
  message,
  ...(status === undefined ? {} : { $metadata: { httpStatusCode: status } }),
});
const WHERE = "s3://models/sft/model.safetensors";

describe("S3 errors", () => {
  const cases: Array<[string, unknown, string, new (m: string) => Error, RegExp]> = [
    [
      "missing bucket",
      sdk("NoSuchBucket", 404),
      "GetObject",
      UsageError,
      /bucket does not exist \(GetObject NoSuchBucket \(HTTP 404\)\)/,
    ],
    ["HeadBucket 404", sdk("NotFound", 404), "HeadBucket", UsageError, /bucket does not exist/],
    [
      "replaced input",
      sdk("PreconditionFailed", 412),
      "GetObject",
      ObjectChangedError,
      /changed since the job was planned .*restart the job/,
    ],
    ["412 by status alone", sdk("Unknown", 412), "GetObject", ObjectChangedError, /changed since the job was planned/],
    [
      "access denied",
      sdk("AccessDenied", 403),
      "PutObject",
      UsageError,
      /access denied \(PutObject AccessDenied \(HTTP 403\)\): check the credentials' permissions/,
    ],
    ["wrong key", sdk("InvalidAccessKeyId", 403), "GetObject", UsageError, /credentials rejected .*AWS_ACCESS_KEY_ID/],
    ["bad signature", sdk("SignatureDoesNotMatch", 403), "GetObject", UsageError, /credentials rejected/],
    ["expired token", sdk("ExpiredToken", 400), "GetObject", UsageError, /credentials rejected/],
    ["no credentials", sdk("CredentialsProviderError"), "GetObject", UsageError, /no S3 credentials found/],
    [
      "missing object",
      sdk("NoSuchKey", 404),
      "GetObject",
      UsageError,
      /not found \(GetObject NoSuchKey \(HTTP 404\)\)/,
    ],
    [
      "throttled",
      sdk("SlowDown", 503, "Please reduce your request rate."),
      "UploadPart",
      Error,
      /UploadPart SlowDown \(HTTP 503\): Please reduce your request rate\./,
    ],
    [
      "connection refused",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9000"), { code: "ECONNREFUSED" }),
      "PutObject",
      Error,
      /PutObject Error: connect ECONNREFUSED/,
    ],
  ];
  for (const [what, error, operation, type, message] of cases) {
    it(`${what}: ${type.name}`, () => {
      const e = describeS3Error(error, operation, WHERE);
      assert.ok(e instanceof type, `${e.constructor.name}`);
      if (type === Error) assert.ok(!(e instanceof UsageError) && !(e instanceof ObjectChangedError));
      assert.ok(e.message.startsWith(`${WHERE}: `), e.message);
      assert.match(e.message, message);
      assert.equal(e.message.includes("\n"), false, "one line");
    });
  }

  it("keeps the socket error code for retry decisions", () => {
    const e = describeS3Error(Object.assign(new Error("reset"), { code: "ECONNRESET" }), "GetObject", WHERE);
    assert.equal((e as Error & { code?: string }).code, "ECONNRESET");
  });

  it("tells a missing object from other failures", () => {
    assert.ok(isNotFound(sdk("NotFound", 404)));
    assert.ok(isNotFound(sdk("NoSuchKey")));
    assert.ok(!isNotFound(sdk("AccessDenied", 403)));
  });
});

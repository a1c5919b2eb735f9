// S3 failures as one-line errors naming the object and what to do. Failures a user must fix
// (credentials, permissions, missing bucket) are UsageErrors: exit 2 when met before writing.
import { ObjectChangedError, UsageError } from "../core/errors.js";

interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function isNotFound(e: unknown): boolean {
  const err = e as SdkError;
  return err.name === "NotFound" || err.name === "NoSuchKey" || err.$metadata?.httpStatusCode === 404;
}

export function describeS3Error(e: unknown, operation: string, where: string): Error {
  const err = e as SdkError;
  const name = err.name ?? err.Code ?? "Error";
  const status = err.$metadata?.httpStatusCode;
  const detail = `${operation} ${name}${status ? ` (HTTP ${status})` : ""}`;
  switch (true) {
    case name === "NoSuchBucket" || (operation === "HeadBucket" && status === 404):
      return new UsageError(`${where}: bucket does not exist (${detail})`);
    case name === "PreconditionFailed" || status === 412:
      return new ObjectChangedError(
        `${where}: the object changed since the job was planned (${detail}); restart the job`,
      );
    case name === "AccessDenied" ||
      (status === 403 && name !== "InvalidAccessKeyId" && name !== "SignatureDoesNotMatch"):
      return new UsageError(`${where}: access denied (${detail}): check the credentials' permissions`);
    case name === "InvalidAccessKeyId" ||
      name === "SignatureDoesNotMatch" ||
      name === "InvalidToken" ||
      name === "ExpiredToken":
      return new UsageError(
        `${where}: credentials rejected (${detail}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY`,
      );
    case name === "CredentialsProviderError" || /Could not load credentials/i.test(err.message ?? ""):
      return new UsageError(
        `${where}: no S3 credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role)`,
      );
    case name === "NoSuchKey" || status === 404:
      return new UsageError(`${where}: not found (${detail})`);
    default:
      // What isRetryable() needs to tell an outage from an answer.
      return Object.assign(new Error(`${where}: ${detail}: ${err.message ?? String(e)}`), {
        code: err.code,
        status,
        errorName: name,
      });
  }
}

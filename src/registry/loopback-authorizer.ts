// The pre-identity policy: reads for everyone who can reach the server, writes and deletes only
// from the server's own host.
import { isLoopbackAddress, type Authorizer, type Capability, type RequestContext } from './authorizer.js';
import { OciError } from './errors.js';

export class LoopbackAuthorizer implements Authorizer {
  authorize(context: RequestContext, capability: Capability): Promise<void> {
    if (
      capability === 'registry:write' ||
      capability === 'registry:delete' ||
      capability === 'metrics:read'
    ) {
      if (!isLoopbackAddress(context.ip)) {
        return Promise.reject(
          new OciError(
            'DENIED',
            `${capability} is allowed only from the server host until identity is configured`,
          ),
        );
      }
    }
    return Promise.resolve();
  }

  canRead(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

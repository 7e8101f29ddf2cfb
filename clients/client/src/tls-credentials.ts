/**
 * The channel's TLS credentials. grpc-js sends the address's host as the TLS server name (SNI)
 * even when it is an IP address, which RFC 6066 forbids and Node answers with a DEP0123 warning
 * in every process that connects to one. For an IP address without `serverName`, the handshake
 * here sends no server name, and Node checks the certificate against the IP address (its IP
 * subject alternative names), as for any IP host. Host names and `serverName` go through
 * grpc-js's own TLS as before.
 */
import { isIP, type Socket } from "node:net";
import { type SecureContext, checkServerIdentity, connect, createSecureContext } from "node:tls";
import { CallCredentials, ChannelCredentials, credentials } from "@grpc/grpc-js";
import type { TlsOptions } from "./client-options.js";

type CreateSecureConnector = ChannelCredentials["_createSecureConnector"];
type SecureConnector = ReturnType<CreateSecureConnector>;

/** TLS credentials for a channel to `address` (`host:port`, `[v6]:port` or a gRPC URI). */
export function tlsCredentials(tls: Readonly<TlsOptions>, address: string): ChannelCredentials {
  const ip = ipAddressOf(address);
  if (ip === undefined || tls.serverName !== undefined) {
    return credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
  }
  // Without `ca`, Node's own root certificates, as grpc-js uses.
  return new IpAddressTlsCredentials(
    createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key }),
    ip,
  );
}

/** The host of `address` when it is an IP address literal. */
export function ipAddressOf(address: string): string | undefined {
  const host = /^(?:ipv4:|ipv6:)?(?:\[([^\]]+)\]|([^:]+)):\d+$/.exec(address);
  const candidate = host?.[1] ?? host?.[2];
  return candidate !== undefined && isIP(candidate) !== 0 ? candidate : undefined;
}

/** TLS to an IP address: ALPN h2, no server name, the certificate checked against the address. */
class IpAddressTlsCredentials extends ChannelCredentials {
  readonly #context: SecureContext;
  readonly #ip: string;

  constructor(context: SecureContext, ip: string) {
    super();
    this.#context = context;
    this.#ip = ip;
  }

  override _isSecure(): boolean {
    return true;
  }

  override _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(
    _target: Parameters<CreateSecureConnector>[0],
    _options: Parameters<CreateSecureConnector>[1],
    callCredentials?: CallCredentials,
  ): SecureConnector {
    const context = this.#context;
    const ip = this.#ip;
    return {
      connect: (socket: Socket) =>
        new Promise((resolve, reject) => {
          const secure = connect(
            {
              socket,
              secureContext: context,
              ALPNProtocols: ["h2"],
              host: ip,
              checkServerIdentity: (_host, certificate) => checkServerIdentity(ip, certificate),
            },
            () => {
              if (!secure.authorized) reject(secure.authorizationError);
              else resolve({ socket: secure, secure: true });
            },
          );
          secure.on("error", reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => callCredentials ?? CallCredentials.createEmpty(),
      destroy: () => undefined,
    };
  }
}

function pem(value: Buffer | string | undefined): Buffer | null {
  if (value === undefined) return null;
  return typeof value === "string" ? Buffer.from(value) : value;
}

/**
 * `url` with its host replaced by `host`, when one is given: what a listener on a wildcard
 * address (0.0.0.0 in Docker) is reached by from elsewhere (docs/docker.md "The docker
 * launcher"). STRAM advertises its umbilical this way and a container its buffer server.
 */
export function advertisedUrl(url: string, host: string | undefined): string {
  if (!host) return url;
  const u = new URL(url);
  u.hostname = host;
  return u.toString().replace(/\/$/, '');
}

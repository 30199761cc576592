export { Stram, AppState, INSECURE_WARNING, planModule, type StramOptions } from './stram.js';
export { AppDir, DEFAULT_APPS_DIR, defaultAppDir, latestAppDir, newAppId, type StramInfo } from './app-dir.js';
export { InsecureDelegationTokens, INSECURE_KEY, StramAuthority, credentialsFor, type ContainerGrant, type DelegationTokens } from './authority.js';
export { ContainerState, type ContainerView, type OperatorView } from './container-table.js';
export { LocalLauncher, type LaunchSpec, type LaunchedContainer, type Launcher, type LocalLauncherOptions } from './launcher.js';
export { CREDENTIALS_MOUNT, DockerApiError, DockerEngine, DockerLauncher, containerName, type DockerLauncherOptions } from './docker-launcher.js';
export { StramMetrics } from './metrics.js';
export { RestAuthError, RestAuthFailure, RestServer, WEB_TOKEN_ISSUER, signWebToken, verifyWebToken, type RestBackend } from './rest.js';
export { UmbilicalConnection, UmbilicalServer, type UmbilicalHandler, type UmbilicalServerOptions } from './umbilical-server.js';

// Every workflow the worker registers, re-exported by name (no `export *`).
export { changeSetting } from './change-setting';
export { changeTrustedMrtd } from './change-trusted-mrtd';
export { sessionCleanup } from './session-cleanup';

// esbuild stand-in for ink's optional React DevTools hook (only used with DEV=true): the bundle runs without it.
export default { initialize() {}, connectToDevTools() {} };

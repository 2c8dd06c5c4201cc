// ESM entry of @enttok/backend/electron (the CommonJS implementation re-exported).
import bridge from './electron.js';

export const { exposeBackend, bridgeMethods, MAIN_ONLY_METHODS, DEFAULT_CHANNEL, defaultEventFilter } = bridge;
export default bridge;

// ESM entry of @enttok/backend: the CommonJS API re-exported (one implementation, one addon
// instance, whether the host imports or requires it).
import api from './index.js';

export const { Backend } = api;
export default api;

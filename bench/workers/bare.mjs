// (1) The physical limit: a worker that hands every request to the same static-asset service, untouched.
export default {
  fetch(request, env) {
    return env.ASSETS.fetch(request);
  },
};

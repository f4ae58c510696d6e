// Scenario movein: 50 trees of three levels (15 files each) built outside the root and renamed into
// it: the files are never created under the root, only found. Files reported, by each tree watcher.
import { raceScenario } from '../lib/races.mjs'

export default raceScenario('movein', {
  summary: 'trees moved in from outside: files reported (InotifyTree, watch(), peers)',
  describe: (config) => `${config.moveinTrees} trees x 15 files`,
})

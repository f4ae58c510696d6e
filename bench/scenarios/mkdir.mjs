// Scenario mkdir: 500 times `mkdir -p r$i/x/y/z` and a file written at once at the bottom: each file
// lands three levels below a directory that did not exist a moment before, before any watcher can
// have a watch on it. Files reported, by each tree watcher.
import { raceScenario } from '../lib/races.mjs'

export default raceScenario('mkdir', {
  summary: 'mkdir -p races: files reported in new directories (InotifyTree, watch(), peers)',
  describe: (config) => `${config.mkdirCount} x mkdir -p + write`,
})

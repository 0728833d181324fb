import { createRoot } from 'react-dom/client'
import { App } from './App'
import './styles.css'

const container = document.getElementById('root')
if (!container) throw new Error('missing #root element in index.html')

// No <StrictMode>: useVolunteer owns long-lived resources (a training worker, a libp2p node),
// and StrictMode's development-only double mount would start them twice.
createRoot(container).render(<App />)

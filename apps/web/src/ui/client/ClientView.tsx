import { UploadPanel } from './UploadPanel'

/** The client's page (`#/client`): bring a data set for a training task. */
export function ClientView() {
  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <h1>pouw</h1>
          <span className="tagline">client · bring a data set</span>
          <a href="#/" className="nav-link" data-testid="nav-volunteer">Volunteer</a>
        </div>
      </header>
      <main>
        <UploadPanel />
      </main>
    </div>
  )
}

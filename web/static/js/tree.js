// Skill trees: the outline is <details> elements (collapsible without script); this adds
// the Expand all / Collapse all buttons, which the markup hides until they can work.

function enhanceTree(tree) {
  const buttons = tree.querySelector('[data-role="tree-buttons"]');
  if (!buttons || tree.dataset.enhanced) return;
  tree.dataset.enhanced = "true";
  buttons.hidden = false;
  const setAll = (open) => {
    for (const details of tree.querySelectorAll("details")) details.open = open;
  };
  buttons.querySelector('[data-action="expand-all"]').addEventListener("click", () => setAll(true));
  buttons.querySelector('[data-action="collapse-all"]').addEventListener("click", () => setAll(false));
}

export function enhance(scope) {
  scope.querySelectorAll('[data-role="tree"]').forEach(enhanceTree);
}

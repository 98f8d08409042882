// A chain's entries, reordered by drag and drop with the mouse, touch or the keyboard
// (focus a handle, Space to lift, arrows to move, Space to drop, Escape to cancel).
import type { ReactNode } from "react";
import { DndContext, KeyboardSensor, PointerSensor, closestCenter, useSensor, useSensors, type DragEndEvent } from "@dnd-kit/core";
import { SortableContext, arrayMove, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from "@dnd-kit/sortable";
import { CSS } from "@dnd-kit/utilities";
import { ActionIcon, Group } from "@mantine/core";

export interface Item {
  id: string;
  label: string;
}

function Row({ item, index, children }: { item: Item; index: number; children: ReactNode }) {
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, transition, isDragging } = useSortable({ id: item.id });
  return (
    <li
      ref={setNodeRef}
      style={{ transform: CSS.Transform.toString(transform), transition, opacity: isDragging ? 0.6 : 1, listStyle: "none" }}
      data-testid="chain-entry"
      data-entry={item.label}
    >
      <Group gap="xs" wrap="nowrap" py={4}>
        <ActionIcon
          ref={setActivatorNodeRef}
          variant="subtle"
          className="drag-handle"
          aria-label={`Move ${item.label} (position ${index + 1})`}
          {...attributes}
          {...listeners}
        >
          <span aria-hidden="true">⠿</span>
        </ActionIcon>
        {children}
      </Group>
    </li>
  );
}

export function SortableEntries({ items, onReorder, render }: { items: Item[]; onReorder: (from: number, to: number) => void; render: (item: Item, index: number) => ReactNode }) {
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 4 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );
  const onDragEnd = ({ active, over }: DragEndEvent) => {
    if (!over || active.id === over.id) return;
    const from = items.findIndex((i) => i.id === active.id);
    const to = items.findIndex((i) => i.id === over.id);
    if (from >= 0 && to >= 0) onReorder(from, to);
  };
  return (
    <DndContext
      sensors={sensors}
      collisionDetection={closestCenter}
      onDragEnd={onDragEnd}
      accessibility={{
        announcements: {
          onDragStart: ({ active }) => `Picked up ${label(items, active.id)}.`,
          onDragOver: ({ active, over }) => (over ? `${label(items, active.id)} is over position ${items.findIndex((i) => i.id === over.id) + 1}.` : ""),
          onDragEnd: ({ active, over }) => (over ? `${label(items, active.id)} dropped at position ${items.findIndex((i) => i.id === over.id) + 1}.` : "Dropped."),
          onDragCancel: ({ active }) => `Moving ${label(items, active.id)} was cancelled.`,
        },
      }}
    >
      <SortableContext items={items.map((i) => i.id)} strategy={verticalListSortingStrategy}>
        <ol style={{ margin: 0, padding: 0 }}>
          {items.map((item, index) => (
            <Row key={item.id} item={item} index={index}>
              {render(item, index)}
            </Row>
          ))}
        </ol>
      </SortableContext>
    </DndContext>
  );
}

function label(items: Item[], id: string | number): string {
  return items.find((i) => i.id === id)?.label ?? String(id);
}

export { arrayMove };
